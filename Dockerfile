# syntax=docker/dockerfile:1
# The tracelink image: `tracelink ship`, `tracelink serve`, `tracelink setup` and the demo
# services (tracelink with the `server` extra and the demo's instrumentation). Small (slim base, no compilers, no stand-in servers), non-root, and the
# dependency layer is cached until pyproject.toml changes.

FROM python:3.12.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tracelink
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
# The base dependencies, the `server` extra (shipper, API, setup) and the demo services'
# instrumentation; not the embedded stand-in servers (the compose stack runs the real Kafka
# and Elasticsearch).
COPY pyproject.toml ./
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
wanted = project["dependencies"] + extras["server"] + extras["demo"]
print("\n".join(r for r in wanted if not r.startswith("tracelink")))
PY
RUN /opt/tracelink/bin/pip install -r /tmp/requirements.txt

# Then tracelink itself, without touching the dependency layer.
COPY README.md ./
COPY tracelink ./tracelink
COPY logging_ext ./logging_ext
COPY shipper ./shipper
COPY correlate ./correlate
COPY kibana ./kibana
COPY devstack ./devstack
RUN /opt/tracelink/bin/pip install --no-deps . \
    && /opt/tracelink/bin/tracelink --version

FROM python:3.12.11-slim-bookworm
ENV PATH=/opt/tracelink/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 tracelink \
    && useradd --system --uid 10001 --gid tracelink --home-dir /home/tracelink --create-home tracelink
COPY --from=build /opt/tracelink /opt/tracelink
USER tracelink
WORKDIR /home/tracelink
ENTRYPOINT ["tracelink"]
CMD ["--help"]
