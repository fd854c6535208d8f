# The hybridfed operator image:  docker build -t hybridfed/operator:0.1.0 .
#
# Stage one builds a virtualenv: first the runtime dependencies, pinned by hack/image-constraints.txt to
# the versions the tests ran with (hack/image_constraints.py regenerates it from the dev virtualenv), then
# the package itself. Stage two copies only that virtualenv onto a fresh slim Python, run by a non-root
# user. The Helm chart adds a read-only root filesystem, drops all capabilities and uses seccomp RuntimeDefault.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY hack/image-constraints.txt ./
# Dependencies first: this layer is rebuilt only when a pin changes, not on every source change.
RUN python -m venv /opt/hybridfed \
    && /opt/hybridfed/bin/pip install --requirement image-constraints.txt
COPY pyproject.toml ./
COPY operator ./operator
RUN /opt/hybridfed/bin/pip install --constraint image-constraints.txt --no-deps . \
    && /opt/hybridfed/bin/pip check \
    && /opt/hybridfed/bin/hybridfed --version

FROM python:3.11-slim
LABEL org.opencontainers.image.title="hybridfed-operator" \
      org.opencontainers.image.description="One federated object, placed across IDC, cloud, edge and serverless Kubernetes clusters"
ENV PATH=/opt/hybridfed/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric non-root user (the chart's runAsUser), so the kubelet can verify runAsNonRoot.
RUN groupadd --system --gid 65532 hybridfed \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin hybridfed
COPY --from=build /opt/hybridfed /opt/hybridfed
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["hybridfed", "operator"]
