import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from segue.threads import training_threads, use_threads


def test_use_threads_limits_numpys_blas_and_refuses_zero():
    with threadpool_limits(None):  # put back whatever this process had afterwards
        use_threads(1)
        assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {1}
    with pytest.raises(ValueError, match="at least 1"):
        use_threads(0)
    assert training_threads() >= 1
