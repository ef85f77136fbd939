# The app: the Streamlit page by default, and the `ingest` CLI for loading
# (`docker compose run --rm app ingest load /data/CBIR.zip`). See docker-compose.yml.
FROM python:3.11.14-slim-bookworm

# CPU-only PyTorch: the default Linux wheels pull about 4 GB of CUDA libraries that this
# image never uses. These pins must equal pyproject.toml's (tests/unit/test_deploy.py checks).
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# The container may run as any uid (compose's `user:`), whose home may not exist: caches go
# where every uid can write.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache \
    CBIR_HOME=/app/cbir-data

WORKDIR /app

# Dependencies first, each layer rebuilt only when what it reads changes, not on every code edit.
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, not editable; the source tree stays in /app because `streamlit run`
# takes a script path and reads .streamlit/config.toml from the working directory.
# A torch pin that drifted from pyproject.toml would have pulled PyPI's CUDA build in the
# layer above: fail the build here rather than ship it.
COPY . .
RUN pip install --no-deps . \
    && python -c "import sys, torch; sys.exit('torch is a CUDA build: align the Dockerfile pins with pyproject.toml' if torch.version.cuda else 0)" \
    && pip check

# Not root. uid 1000 is the usual first user on a Linux host, so files written into the
# bind-mounted data directory belong to that user; compose's `user:` covers other uids.
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin app \
    && mkdir -p "$CBIR_HOME" /data \
    && chown app:app "$CBIR_HOME"
USER 1000:1000

EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

# A data directory the container cannot write (a bind mount that Docker created as root, or
# one owned by another uid) would fail deep inside a load; say so in one line at the start.
ENTRYPOINT ["/bin/sh", "-c", "if ! mkdir -p \"$CBIR_HOME\" 2>/dev/null || ! [ -w \"$CBIR_HOME\" ]; then echo \"error: the data directory $CBIR_HOME is not writable by uid $(id -u): on the host, run 'sudo chown -R $(id -u):$(id -g) cbir-data', or give docker compose its owner as CBIR_UID and CBIR_GID (see README)\" >&2; exit 2; fi; exec \"$@\"", "--"]
CMD ["streamlit", "run", "ui/app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
