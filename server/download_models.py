"""`download_models -p ID`: fetch a pipeline's model files, with a progress bar."""

from __future__ import annotations

import argparse
import sys

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from scope_graph.model_store import download
from scope_graph.scope_pipelines import Artifact, all_pipelines
from server.settings import ServerSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="download_models",
        description="Download a pipeline's model files into the models folder "
        "(DAYDREAM_SCOPE_MODELS_DIR, default ~/.daydream-scope/models). "
        "Interrupted downloads resume. HF_TOKEN is used when set.",
    )
    parser.add_argument("-p", "--pipeline", required=True, metavar="ID", help="pipeline id")
    args = parser.parse_args(argv)

    pipelines = all_pipelines()
    pipeline = pipelines.get(args.pipeline)
    if pipeline is None:
        known = ", ".join(pipelines) or "none"
        print(f"ERROR: unknown pipeline {args.pipeline!r} (known: {known})", file=sys.stderr)
        return 1
    if not pipeline.info.artifacts:
        print(f"{pipeline.id} needs no model files.")
        return 0
    settings = ServerSettings.from_env()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    tasks: dict[Artifact, TaskID] = {}
    try:
        with Progress(*columns) as bar:

            def progress(artifact: Artifact, done: int, total: int) -> None:
                if artifact not in tasks:
                    tasks[artifact] = bar.add_task(artifact.repo_id, total=total)
                bar.update(tasks[artifact], completed=done)

            download(pipeline.info, settings.models_dir, progress, endpoint=settings.hf_endpoint)
    except KeyboardInterrupt:
        print("Cancelled.", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"ERROR: downloading models for {pipeline.id} failed: {exc}", file=sys.stderr)
        return 1
    print(f"Models for {pipeline.id} are in {settings.models_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
