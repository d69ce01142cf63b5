# One image for every bookwire service in docker-compose.yml (ingress, worker, beat, Flower,
# migrate, sandbox): they differ only in their command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    BOOKWIRE_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY integrations ./integrations
COPY worker ./worker
COPY sandbox ./sandbox
COPY bench ./bench
RUN pip install . && useradd --system --home-dir /data --create-home bookwire

USER bookwire
WORKDIR /data
CMD ["bookwire", "--help"]
