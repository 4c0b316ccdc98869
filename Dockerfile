# healthsync: a scheduled container that syncs customer-health scores into HubSpot and Intercom.
#   podman/docker build -t healthsync .                                    # runtime dependencies only
#   podman/docker build --build-arg EXTRAS=snowflake,bigquery -t healthsync .   # optional extras, when needed
#   docker run --rm -v ./config:/config:ro -v healthsync-state:/state \
#     -e HUBSPOT_ACCESS_TOKEN -e INTERCOM_ACCESS_TOKEN healthsync            # = healthsync run
# Size (measured by tests/test_container.py, recorded in README "Deployment"): at most 450 MB.
FROM python:3.11-slim-bookworm AS build
ARG EXTRAS=""
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
# Dependencies pinned by constraints.txt (regenerate with `make constraints`). No byte code yet: it is
# compiled below, after the test suites that wheels ship are removed.
RUN /opt/healthsync/bin/pip install --no-compile --constraint constraints.txt ".${EXTRAS:+[$EXTRAS]}"
# Then: no pip or setuptools at run time, no test suites, no type stubs, and of the HubSpot SDK's ~40 API clients
# (each loaded only when used) the four the connector calls: crm.properties, crm.objects, crm.owners,
# crm.associations (hubspot/discovery keeps the others' entry points, which fail only if ever called).
ARG HUBSPOT_UNUSED="cms marketing automation conversations events files communication_preferences webhooks settings \
    crm/lists crm/tickets crm/quotes crm/products crm/line_items crm/extensions crm/deals crm/commerce crm/timeline \
    crm/schemas crm/pipelines crm/imports crm/exports crm/objects/taxes crm/objects/communications \
    crm/objects/postal_mail crm/objects/goals crm/objects/emails crm/objects/notes crm/objects/calls \
    crm/objects/meetings crm/objects/feedback_submissions crm/objects/leads crm/objects/deal_splits"
RUN /opt/healthsync/bin/python -m pip uninstall --yes pip setuptools \
    && cd /opt/healthsync/lib/python3.11/site-packages \
    && find . -type d -name tests -prune -exec rm -rf {} + \
    && rm -rf numpy/f2py numpy/distutils sqlalchemy/testing/suite \
    && for api in $HUBSPOT_UNUSED; do rm -rf "hubspot/$api"; done \
    && find . -name "*.pyi" -delete \
    && /opt/healthsync/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
       -x '/(snowflake|google)/' /opt/healthsync/lib/python3.11/site-packages

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
STOPSIGNAL SIGTERM
ENTRYPOINT ["healthsync"]
CMD ["run"]
