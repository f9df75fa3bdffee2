"""The CLI's views: the projections' store, caught up with the run-status topic (no API server needed).

Owns what `console/runs.py` and `console/steps.py` read. `load_parts` opens
the projections' store the API server answers from (AUTOMATIONS_PROJECTIONS_URL,
or the SQLite file of the topic prefix, `projections.store.projections_url`),
folds into it what of the run-status topic it does not hold yet
(`projections.catch_up`: nothing on a store an API server or a projector keeps
up to date; on a new store the whole topic, with progress on stderr), and
answers from it (`console.operator_views.StoreViews`): no fold in memory, so
neither the time nor the memory of a command grows with the runs the topic
holds. `load_definitions` reads the definitions topic into the lifecycle
state (small: one record per edit).
"""

from __future__ import annotations

import asyncio
import time

import typer

from console.errors import CliError
from console.operator_views import StoreViews
from console.progress import Progress
from engine import lifecycle as lc
from processors import config, definitions_log


def load_parts() -> StoreViews:
    """The partitions' views, in the projections' store, holding the run-status topic to its end."""
    # SQLAlchemy and Alembic (a second at start) are imported by the commands that read the store only.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from projections.catch_up import catch_up
    from projections.store import ProjectionStore, projections_url

    settings = config.load()
    url = projections_url(settings.topics.prefix)
    store = ProjectionStore(url)
    started, progress = time.monotonic(), Progress()

    def report(done) -> None:  # a projections.catch_up.CaughtUp
        if progress.due():
            rate = done.folded / max(time.monotonic() - started, 1e-9)
            progress.report(f"folding {settings.topics.run_status} into the projections' store first: "
                            f"{done.folded:,} of {done.behind:,} records ({rate:,.0f} records/s)")

    try:
        done = asyncio.run(catch_up(settings, store, settings.topics.run_status, report))
    except DBAPIError as error:
        raise CliError(f"the projections' store {make_url(url).render_as_string(hide_password=True)} "
                       f"did not answer: {' '.join(str(error.orig).split())}") from None
    if done.cleared:
        typer.echo(f"the projections' store held partitions {done.cleared} of an earlier "
                   f"{settings.topics.run_status} (past its end now): folded again from offset 0", err=True)
    return StoreViews(store)


def load_definitions() -> lc.DefinitionsState:
    return asyncio.run(definitions_log.load_state(config.load()))
