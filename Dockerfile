# One image for both programs: the SkyDriver service (default command) and `scanner_client`, which the scan Jobs'
# starter/stopper containers run (SKYDRIVER_STARTER_IMAGE points here).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY skydriver ./skydriver
COPY scanner_client ./scanner_client
RUN pip install . && rm -rf /src

RUN useradd --uid 10001 --create-home skydriver
USER 10001
WORKDIR /home/skydriver

# inside a container the service must listen beyond loopback (auth stays on: SKYDRIVER_AUTH=off is refused here)
ENV REST_HOST=0.0.0.0 \
    REST_PORT=8080
EXPOSE 8080

CMD ["python", "-m", "skydriver"]
