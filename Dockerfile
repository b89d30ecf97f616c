# kizuna worker and CLI. Build: docker build -t kizuna . ; run: see docker-compose.yml
FROM python:3.11-slim
WORKDIR /opt/kizuna
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY connectors ./connectors
COPY deploy/members.yaml ./deploy/members.yaml
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/kizuna kizuna \
    && mkdir -p /var/lib/kizuna && chown kizuna /var/lib/kizuna
USER kizuna
ENV KIZUNA_VAR_DIR=/var/lib/kizuna KIZUNA_MEMBERS_FILE=/opt/kizuna/deploy/members.yaml
EXPOSE 9464 6066
ENTRYPOINT ["kizuna"]
CMD ["worker"]
