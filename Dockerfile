# kizuna: the worker, the TAXII server and the CLI in one image (see docker-compose.yml).
#   docker build -t kizuna .        docker run --rm kizuna --help

# The compiled core (streams/native.py): mypyc needs a C compiler and the test extras' pinned mypy,
# neither of which the running image needs.
FROM python:3.11-slim AS native
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kizuna
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
RUN pip install --no-cache-dir -e '.[test]' && python -m streams.native build

FROM python:3.11-slim
WORKDIR /opt/kizuna
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
COPY deploy/members.yaml ./deploy/members.yaml
COPY --from=native /opt/kizuna/build/native ./build/native
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
