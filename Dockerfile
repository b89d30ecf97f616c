# kizuna: the worker, the TAXII server and the CLI in one image (see docker-compose.yml).
#   docker build -t kizuna .        docker run --rm kizuna --help
FROM python:3.11-slim
WORKDIR /opt/kizuna
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
COPY deploy/members.yaml ./deploy/members.yaml
# Editable: the code finds schemas/ and deploy/ next to streams/ (streams.settings.ROOT).
RUN pip install --no-cache-dir -e . \
    && useradd --system --home-dir /var/lib/kizuna kizuna \
    && mkdir -p /var/lib/kizuna/secrets /var/lib/kizuna/taxii /var/lib/kizuna/state \
    && chown -R kizuna /var/lib/kizuna
USER kizuna
# State, secrets (written by `kizuna setup`, read by the workers) and the TAXII store.
ENV KIZUNA_VAR_DIR=/var/lib/kizuna PYTHONUNBUFFERED=1
EXPOSE 9464 9465 9470
ENTRYPOINT ["kizuna"]
CMD ["worker"]
