"""The personal HTCondor pool for tests marked `condor` (CI starts it before pytest).

`condor_pool` is a session fixture: it checks that a schedd answers and fails with what to do
when none does. Test modules import it (`from condor_pool import condor_pool`; pytest puts
tests/ on sys.path) and use it as a fixture.
"""

from __future__ import annotations

import pytest

from dmsweep.errors import SchedulerError

HINT = "run `scripts/personal-condor.sh start` (as root) before the condor tests"


@pytest.fixture(scope="session")
def condor_pool() -> None:
    from dmsweep.run_builder import condor

    try:
        condor.ping()
    except SchedulerError as err:
        pytest.fail(f"no HTCondor pool: {err}. {HINT}", pytrace=False)
