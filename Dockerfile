# trackboard's team image: the dashboard (Streamlit), the PostgreSQL driver and the
# TensorBoard exporter; no PyTorch or other framework (training runs elsewhere).
#   docker build -t trackboard .                  # the dashboard (last stage)
#   docker build --target visdom -t trackboard-visdom .
# docker-compose.yml builds both; README.md ("Team setup") explains the setup.

FROM python:3.11-slim AS dashboard-base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# .dockerignore lets only the package sources in, so this layer holds no secrets,
# databases or virtual environments; the sources are removed once installed.
# The visdom client (for the Export page) is 0.2.4 from source: its build needs
# setuptools<81 and no build isolation, and its page needs tornado<6.6.
COPY . /tmp/trackboard-src
RUN pip install "setuptools<81" wheel \
    && pip install --no-build-isolation "visdom==0.2.4" "tornado<6.6" \
    && pip install "/tmp/trackboard-src[dashboard,postgres,tensorboard,visdom]" \
    && rm -rf /tmp/trackboard-src \
    && python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)"

# The entrypoint and its database wait live side by side, as in docker/.
COPY --chmod=0755 docker/entrypoint.sh docker/wait_ready.py /usr/local/lib/trackboard/

# A fixed uid so named volumes keep one owner across image rebuilds.
RUN groupadd --system --gid 1000 trackboard \
    && useradd --system --uid 1000 --gid trackboard --home-dir /data --create-home trackboard \
    && mkdir -p /exports \
    && chown trackboard:trackboard /exports
USER trackboard
# Without TRACKBOARD_STORE the image still works: sqlite:///trackboard.db in /data.
WORKDIR /data

# Streamlit (under `trackboard ui`) stops cleanly on SIGINT; SIGTERM would need a
# handler, and PID 1 gets none by default.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/lib/trackboard/entrypoint.sh"]


# Visdom for `docker compose --profile viewers` (the package is in the base already).
# Its page's JS/CSS are fetched here, at build time, so the server never downloads
# anything when it starts.
FROM dashboard-base AS visdom
USER root
RUN python -c "from visdom.server.build import download_scripts; download_scripts()"
USER trackboard
EXPOSE 8097
ENTRYPOINT ["python", "-c", "from visdom.server.run_server import main; main()"]
CMD ["-port", "8097", "-env_path", "/exports/visdom/"]


# The default target: the dashboard on all interfaces of the container (the host
# side of the port mapping decides who can reach it).
FROM dashboard-base AS dashboard
EXPOSE 8501
CMD ["trackboard", "ui", "--host", "0.0.0.0", "--port", "8501"]
