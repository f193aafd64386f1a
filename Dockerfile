# One image for both programs: the SkyDriver service (default command) and `scanner_client`, which the scan Jobs'
# starter/stopper containers run (SKYDRIVER_STARTER_IMAGE points here).
# Reproducible: every dependency comes from requirements.lock, pinned with hashes (`make lock` regenerates it).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/skydriver
WORKDIR /src
COPY requirements.lock ./
RUN /opt/skydriver/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY skydriver ./skydriver
COPY scanner_client ./scanner_client
RUN /opt/skydriver/bin/pip install --no-deps . && /opt/skydriver/bin/pip check

FROM python:3.11-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="skydriver" \
      org.opencontainers.image.description="REST service that runs IceCube's Skymap Scanner sky scans" \
      org.opencontainers.image.source="https://github.com/WIPACrepo/SkyDriver" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/skydriver/bin:$PATH
COPY --from=build /opt/skydriver /opt/skydriver

RUN useradd --uid 10001 --create-home skydriver
USER 10001
WORKDIR /home/skydriver

# inside a container the service must listen beyond loopback (auth stays on: SKYDRIVER_AUTH=off is refused here)
ENV REST_HOST=0.0.0.0 \
    REST_PORT=8080
EXPOSE 8080

CMD ["python", "-m", "skydriver"]
