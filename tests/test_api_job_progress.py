"""An index job's record follows the seconds of video inside the file being encoded (issue 28:
"the same figures ... in the job API"), not only whole videos: ``JobProgress`` against a real
catalog's job board, fed the ``IngestProgress`` values a run reports."""

from __future__ import annotations

from tempme.app.api.jobs import JobProgress, eta
from tempme.index import IngestProgress, Library


def test_job_record_counts_seconds_inside_the_current_file(tmp_path) -> None:
    with Library.open(tmp_path / "lib", create=True) as lib:
        job = lib.jobs.create("folder", ["/videos"], "test:1")
        lib.jobs.update(job.job_id, total_s=30.0, videos_total=2, status="running")
        progress = JobProgress(lib, job.job_id, {"/videos/a.mp4": 10.0, "/videos/b.mp4": 20.0}, every_s=0.0)
        progress(0, 2, "")
        progress.seconds(IngestProgress(0, 2, 4.0, 30.0, "/videos/a.mp4", 4.0, 10.0, 2.0))
        record = lib.jobs.get(job.job_id)
        assert (record.done_s, record.current, record.videos_done) == (4.0, "/videos/a.mp4", 0)
        assert eta(record)[0] == 4.0 / 30.0
        progress(1, 2, "/videos/a.mp4")  # a finished file counts whole
        progress.seconds(IngestProgress(1, 2, 15.0, 30.0, "/videos/b.mp4", 5.0, 20.0, 5.0))
        record = lib.jobs.get(job.job_id)
        assert (record.done_s, record.current, record.videos_done) == (15.0, "/videos/b.mp4", 1)
        progress(2, 2, "/videos/b.mp4")
        assert lib.jobs.get(job.job_id).done_s == 30.0


def test_in_file_writes_are_throttled_but_a_finished_file_is_not(tmp_path) -> None:
    with Library.open(tmp_path / "lib", create=True) as lib:
        job = lib.jobs.create("folder", ["/videos"], "test:1")
        progress = JobProgress(lib, job.job_id, {"/v/a.mp4": 10.0}, every_s=3600.0)
        progress.seconds(IngestProgress(0, 1, 2.0, 10.0, "/v/a.mp4", 2.0, 10.0, 1.0))
        progress.seconds(IngestProgress(0, 1, 6.0, 10.0, "/v/a.mp4", 6.0, 10.0, 2.0))  # within every_s: skipped
        assert lib.jobs.get(job.job_id).done_s == 2.0
        progress.seconds(IngestProgress(0, 1, 10.0, 10.0, "/v/a.mp4", 10.0, 10.0, 3.0))  # the file's end: written
        assert lib.jobs.get(job.job_id).done_s == 10.0


def test_job_record_never_goes_back_with_two_files_in_flight(tmp_path) -> None:
    """A batch can span files: b's first second arrives while a is 8 s in. The record shows the
    library's 9 s (8 of a + 1 of b), not 1 s (b's part alone), and never less later."""
    with Library.open(tmp_path / "lib", create=True) as lib:
        job = lib.jobs.create("folder", ["/videos"], "test:1")
        progress = JobProgress(lib, job.job_id, {"/videos/a.mp4": 10.0, "/videos/b.mp4": 20.0}, every_s=0.0)
        seen = []
        for report in [
            IngestProgress(0, 2, 8.0, 30.0, "/videos/a.mp4", 8.0, 10.0, 1.0),
            IngestProgress(0, 2, 9.0, 30.0, "/videos/b.mp4", 1.0, 20.0, 2.0),
            IngestProgress(0, 2, 12.0, 30.0, "/videos/b.mp4", 4.0, 20.0, 3.0),
        ]:
            progress.seconds(report)
            seen.append(lib.jobs.get(job.job_id).done_s)
        progress(1, 2, "/videos/a.mp4")  # a done: its own count (10 s) is below the 12 s shown
        seen.append(lib.jobs.get(job.job_id).done_s)
        progress(2, 2, "/videos/b.mp4")
        seen.append(lib.jobs.get(job.job_id).done_s)
        assert seen == [8.0, 9.0, 12.0, 12.0, 30.0]
