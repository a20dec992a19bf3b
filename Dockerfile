# A container for CI systems that run jobs in images (GitLab CI, Jenkins, Tekton):
#   docker build -t reconciler .
#   docker run --rm -v "$PWD:/work" -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ... reconciler plan manifests/
# The manifests are mounted at /work (the working directory); credentials come from the
# environment at run time and are never part of the image.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
# reconciler/schemas is a link to ../schemas: without them the wheel has no schema to validate with.
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN pip install --no-cache-dir --upgrade pip \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin reconciler
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER reconciler
WORKDIR /work
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["reconciler"]
CMD ["--help"]
