# One image for every bookwire service in docker-compose.yml (ingress, worker, beat, Flower,
# migrate, sandbox): they differ only in their command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    BOOKWIRE_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY config ./config
COPY integrations ./integrations
COPY worker ./worker
COPY sandbox ./sandbox
COPY bench ./bench
# every dependency at the version pinned in constraints.txt (the ranges in pyproject.toml alone
# would give each build whatever is newest that day)
RUN pip install -c constraints.txt . && useradd --system --home-dir /data --create-home bookwire

USER bookwire
WORKDIR /data
CMD ["bookwire", "--help"]
