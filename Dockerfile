# Warden production image: slim, non-root, `warden serve`.
FROM python:3.11-slim AS build
# A C compiler for the build stage only: the wheel carries the request path compiled with
# mypyc (setup.py); the runtime image below gets the wheel, not the compiler.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY proxy ./proxy
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --home-dir /app warden
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY config.yaml ./config.yaml
COPY policies ./policies
# The audit spool lives on local disk and must be writable by the service user.
RUN mkdir -p /app/.warden && chown warden:warden /app/.warden
USER warden
# Inside the container the admin listener must bind all interfaces to be published;
# publish it on the host's loopback (or a private network) only.
ENV WARDEN_ADMIN_HOST=0.0.0.0
EXPOSE 8080 8081
ENTRYPOINT ["warden"]
CMD ["serve", "--config", "/app/config.yaml"]
