# healthsync: a scheduled container that syncs customer-health scores into HubSpot and Intercom.
#   podman/docker build -t healthsync .
#   docker run --rm -v ./config:/config:ro -v healthsync-state:/state \
#     -e HUBSPOT_ACCESS_TOKEN -e INTERCOM_ACCESS_TOKEN healthsync            # = healthsync run
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/healthsync
WORKDIR /src
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY healthsync ./healthsync
COPY connector ./connector
COPY scoring ./scoring
COPY state ./state
COPY mappings ./mappings
COPY sandbox ./sandbox
# Dependencies pinned by constraints.txt (regenerate with `make constraints`).
RUN /opt/healthsync/bin/pip install --constraint constraints.txt . \
    && /opt/healthsync/bin/pip uninstall --yes pip

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="healthsync" \
      org.opencontainers.image.description="Product usage -> customer-health scores, plays and tasks in HubSpot and Intercom"
RUN groupadd --gid 10001 healthsync \
    && useradd --uid 10001 --gid healthsync --home-dir /state --no-create-home --shell /usr/sbin/nologin healthsync \
    && mkdir -p /config /state \
    && chown healthsync:healthsync /state
COPY --from=build /opt/healthsync /opt/healthsync
ENV PATH=/opt/healthsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEALTHSYNC_CONFIG=/config/healthsync.yaml \
    HEALTHSYNC_STATE__URL=sqlite:////state/healthsync-state.db
# Config is mounted read-only at /config; state (SQLite) lives in /state unless a PostgreSQL URL is set.
# Tokens: HUBSPOT_ACCESS_TOKEN / INTERCOM_ACCESS_TOKEN, or files in /run/secrets.
VOLUME ["/config", "/state"]
WORKDIR /state
USER healthsync:healthsync
ENTRYPOINT ["healthsync"]
CMD ["run"]
