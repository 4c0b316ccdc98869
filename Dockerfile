# healthsync: a scheduled container that syncs customer-health scores into HubSpot and Intercom.
#   podman/docker build -t healthsync .                                    # runtime + the `backtest` extra
#   podman/docker build --build-arg EXTRAS=backtest,snowflake,bigquery -t healthsync .   # more extras, when needed
#   docker run --rm -v ./config:/config:ro -v healthsync-state:/state \
#     -e HUBSPOT_ACCESS_TOKEN -e INTERCOM_ACCESS_TOKEN healthsync            # = healthsync run
# Size (measured by tests/test_container.py, recorded in README "Deployment"): at most 600 MB.
FROM python:3.11-slim-bookworm AS build
# `backtest` (scikit-learn, matplotlib): `healthsync backtest`'s suggested weights and its HTML report.
ARG EXTRAS="backtest"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# binutils (build stage only): `strip` for the wheels' shared libraries below.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/healthsync
WORKDIR /src
# Dependencies pinned by constraints.txt (regenerate with `make constraints`), read from pyproject.toml alone and
# installed before any source is copied: this layer is rebuilt when they change, not on every source edit (the
# build cache then keeps the 250 MB of wheels). No byte code yet: it is compiled below, after the test suites that
# wheels ship are removed.
COPY constraints.txt pyproject.toml ./
RUN /opt/healthsync/bin/python -c "import sys, tomllib; project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [name for name in sys.argv[1].split(',') if name]; \
print('\n'.join(project['dependencies'] + [d for name in extras for d in project['optional-dependencies'][name]]))" \
    "$EXTRAS" > /tmp/dependencies.txt \
    && /opt/healthsync/bin/pip install --no-compile --constraint constraints.txt -r /tmp/dependencies.txt
COPY README.md LICENSE ./
COPY healthsync ./healthsync
COPY connector ./connector
COPY scoring ./scoring
COPY state ./state
COPY mappings ./mappings
COPY sandbox ./sandbox
RUN /opt/healthsync/bin/pip install --no-compile --no-deps --constraint constraints.txt . \
    && /opt/healthsync/bin/pip check
# Then: no pip or setuptools at run time, no test suites, no type stubs, and of the HubSpot SDK's ~40 API clients
# (each loaded only when used) the four the connector calls: crm.properties, crm.objects, crm.owners,
# crm.associations (hubspot/discovery keeps the others' entry points, which fail only if ever called).
# Of the Intercom SDK, its `unstable` API namespace (loaded only when used; the connector pins a dated version).
# numpy.f2py stays: scipy's array-API layer runs `from numpy import *`, which imports it.
# The `backtest` extra (about 250 MB as installed) is trimmed to fit 600 MB: the shared libraries that auditwheel
# left alone (no RPATH; its patchelf-edited ones break when stripped) lose their symbol tables; Pillow (which
# matplotlib loads, and only to read and write raster images) loses its optional AVIF and WebP codecs, font engine
# and colour management (each a plugin Pillow reports as unsupported when its library is absent); of matplotlib's
# fonts DejaVu Sans (the default) and the last-resort glyphs stay, its toolbar icons go; no C/Cython sources or
# headers; and what only `healthsync backtest` imports (scipy and scikit-learn for its suggestions, matplotlib,
# fontTools and Pillow for its report) gets no byte code: compiled in memory when a backtest imports it, so that
# every other command keeps its precompiled start.
ARG HUBSPOT_UNUSED="cms marketing automation conversations events files communication_preferences webhooks settings \
    crm/lists crm/tickets crm/quotes crm/products crm/line_items crm/extensions crm/deals crm/commerce crm/timeline \
    crm/schemas crm/pipelines crm/imports crm/exports crm/objects/taxes crm/objects/communications \
    crm/objects/postal_mail crm/objects/goals crm/objects/emails crm/objects/notes crm/objects/calls \
    crm/objects/meetings crm/objects/feedback_submissions crm/objects/leads crm/objects/deal_splits"
RUN /opt/healthsync/bin/python -m pip uninstall --yes pip setuptools \
    && cd /opt/healthsync/lib/python3.11/site-packages \
    && find . -type d -name tests -prune -exec rm -rf {} + \
    && rm -rf numpy/distutils sqlalchemy/testing/suite matplotlib/mpl-data/sample_data matplotlib/mpl-data/images \
       matplotlib/mpl-data/fonts/afm matplotlib/mpl-data/fonts/pdfcorefonts sklearn/datasets/images \
       PIL/_avif.* PIL/_webp.* PIL/_imagingft.* PIL/_imagingcms.* pillow.libs/libavif-* pillow.libs/libwebp* \
       pillow.libs/libsharpyuv-* pillow.libs/libfreetype-* pillow.libs/libharfbuzz-* pillow.libs/libbrotli* \
       pillow.libs/liblcms2-* \
    && if [ -d matplotlib ]; then find matplotlib/mpl-data/fonts/ttf -type f ! -name 'DejaVuSans*' ! -name 'LastResort*' -delete; fi \
    && for api in $HUBSPOT_UNUSED; do rm -rf "hubspot/$api"; done \
    && find . \( -name "*.pyi" -o -name "*.pyx" -o -name "*.pxd" -o -name "*.pxi" -o -name "*.h" -o -name "*.c" \
       -o -name "*.cpp" -o -name "*.f" -o -name "*.f90" -o -name "*.tp" \) -type f -delete \
    && rm -rf intercom/unstable \
    && find . -name "*.so*" -type f ! -path "*.libs/*" | while read -r lib; do \
         readelf -d "$lib" | grep -qE "R(UN)?PATH" || strip --strip-unneeded "$lib"; done \
    && /opt/healthsync/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
       -x '/(snowflake|google|scipy|sklearn|matplotlib|PIL|fontTools)/' /opt/healthsync/lib/python3.11/site-packages

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
    HEALTHSYNC_STATE__URL=sqlite:////state/healthsync-state.db \
    MPLCONFIGDIR=/tmp/matplotlib
# Config is mounted read-only at /config; state (SQLite) lives in /state unless a PostgreSQL URL is set.
# Tokens: HUBSPOT_ACCESS_TOKEN / INTERCOM_ACCESS_TOKEN, or files in /run/secrets.
VOLUME ["/config", "/state"]
WORKDIR /state
USER healthsync:healthsync
STOPSIGNAL SIGTERM
ENTRYPOINT ["healthsync"]
CMD ["run"]
