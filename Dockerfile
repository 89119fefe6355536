# accs-sync worker image: `docker run --env-file .env accs-sync` runs the daemon.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sync ./sync
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres,mysql]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/accs-sync.db
RUN useradd --system --uid 10001 --home-dir /data --create-home accs
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER accs
WORKDIR /data
VOLUME ["/data"]
# Exits non-zero when the database cannot be read or the last run failed.
HEALTHCHECK --interval=5m --timeout=30s CMD ["accs-sync", "status", "--runs", "1"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["accs-sync"]
CMD ["daemon"]
