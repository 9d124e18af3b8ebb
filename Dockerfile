# The society in a container: the chat page and the API on port 8765, on the embedded
# Qwen2.5-Coder-0.5B (and its 1.5B judge; PyPI data wheels: nothing is downloaded at run time), or on an Ollama
# server named by OLLAMA_HOST (docs/docker-compose.yml starts one with `--profile ollama`).
#
#   docker build -t society .
#   docker run -p 8765:8765 -e SOCIETY_API_TOKEN=choose-one -v society-data:/data society
FROM python:3.11-slim-bookworm

# A compiler and cmake build llama-cpp-python (about 8 minutes on 2 cores); bubblewrap is the
# executor's sandbox (it needs the container started with --privileged or user namespaces on).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git bubblewrap \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.9.*

WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
# Dependencies first, from the lock file alone: a code change does not rebuild llama.cpp.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --no-dev
COPY . .
RUN uv sync --frozen --no-dev

# Everything the society keeps (conversation, memories, prompts, adapters) is in /data.
ENV SOCIETY_HOME=/data
VOLUME /data
EXPOSE 8765
# Bound to every address inside the container, so the API token is required.
CMD ["society", "ui", "--host", "0.0.0.0", "--port", "8765"]
