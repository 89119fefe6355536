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
# uid and gid 10001, as deploy/kubernetes/ expects (runAsUser, runAsGroup, fsGroup).
RUN groupadd --system --gid 10001 accs \
    && useradd --system --uid 10001 --gid accs --home-dir /data --create-home accs
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER accs
WORKDIR /data
VOLUME ["/data"]
# The daemon's /metrics, /livez and /readyz when SYNC_HTTP_PORT=9464 (and SYNC_HTTP_HOST=0.0.0.0
# to reach them from outside the container); nothing listens unless SYNC_HTTP_PORT is set.
EXPOSE 9464
# With SYNC_HTTP_PORT set: the daemon's /livez answers 200 (urlopen raises on 503 or no answer).
# Without: `status` exits non-zero when the database cannot be read or the last run failed.
# The image has python but no curl.
HEALTHCHECK --interval=1m --timeout=30s --start-period=1m --retries=3 \
    CMD if [ -n "$SYNC_HTTP_PORT" ]; then \
          python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ['SYNC_HTTP_PORT'], timeout=10)"; \
        else accs-sync status --runs 1; fi
STOPSIGNAL SIGTERM
ENTRYPOINT ["accs-sync"]
CMD ["daemon"]
