"""`download_models -p ID`: fetch a pipeline's model files, with a progress bar;
`--verify` checks the files already on disk instead."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from scope_graph.model_store import ProgressReport, RetryPolicy, download
from scope_graph.model_verify import FileCheck, verify
from scope_graph.scope_pipelines import PipelineInfo, all_pipelines
from server.settings import ServerSettings


def describe(report: ProgressReport) -> str:
    """The bar's label: the file in flight, or the retry under way."""
    where = (
        f"{report.artifact.folder_name}/{report.file}" if report.file else report.artifact.repo_id
    )
    retry = report.retry
    if retry is None:
        return where
    return f"{where} [yellow]retry {retry.attempt}/{retry.attempts} after {retry.reason}"


def fetch(info: PipelineInfo, models_dir: Path, endpoint: str | None, policy: RetryPolicy) -> None:
    """Download with one bar: bytes done of the whole download, the file in flight."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("listing files", total=None)

        def progress(report: ProgressReport) -> None:
            bar.update(
                task, completed=report.done, total=report.total, description=describe(report)
            )

        download(info, models_dir, progress, endpoint=endpoint, policy=policy)


def check(info: PipelineInfo, models_dir: Path, endpoint: str | None, policy: RetryPolicy) -> int:
    """`--verify`: one line per file, then a summary; 1 when any file is missing or wrong."""

    def show(result: FileCheck) -> None:
        verdict = f"ok ({result.checked})" if result.problem is None else result.problem
        print(f"{'OK ' if result.problem is None else 'BAD'} {result.path}: {verdict}")

    results = verify(info, models_dir, show, endpoint=endpoint, policy=policy)
    bad = [r for r in results if r.problem is not None]
    if bad:
        print(
            f"{len(bad)} of {len(results)} files are missing or wrong; "
            f"`download_models -p {info.id}` fetches them again.",
            file=sys.stderr,
        )
        return 1
    print(f"All {len(results)} files match the hub's listing.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="download_models",
        description="Download a pipeline's model files into the models folder "
        "(DAYDREAM_SCOPE_MODELS_DIR, default ~/.daydream-scope/models). "
        "Interrupted downloads resume; transient network and server errors are retried; "
        "every file is checked against the hub's size and SHA-256. HF_TOKEN is used when set.",
    )
    parser.add_argument("-p", "--pipeline", required=True, metavar="ID", help="pipeline id")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check the files on disk against the hub's listing (sizes and checksums) "
        "instead of downloading; wrong files are then fetched again by the next download",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=RetryPolicy().attempts - 1,
        metavar="N",
        help="retries per file after a transient failure (default %(default)s)",
    )
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
    policy = RetryPolicy(attempts=max(args.retries, 0) + 1)
    info = pipeline.info.model_copy(update={"id": pipeline.id})
    try:
        if args.verify:
            return check(info, settings.models_dir, settings.hf_endpoint, policy)
        fetch(info, settings.models_dir, settings.hf_endpoint, policy)
    except KeyboardInterrupt:
        print("Cancelled.", file=sys.stderr)
        return 130
    except Exception as exc:
        doing = "verifying" if args.verify else "downloading"
        print(f"ERROR: {doing} models for {pipeline.id} failed: {exc}", file=sys.stderr)
        return 1
    print(f"Models for {pipeline.id} are in {settings.models_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
