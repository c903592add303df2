import math

from trackboard.loggers import Run
from trackboard.storage import Store


def test_log_and_read_back_on_each_backend(store_url: str) -> None:
    with Run(project="churn", name="mlp", config={"lr": 1e-3}, store=store_url) as run:
        for i in range(100):
            run.log({"loss": 1 / (i + 1)})
        run.log({"nan": math.nan, "inf": math.inf, "ninf": -math.inf}, step=3)
    store = Store(store_url)
    hist = store.history([run.id])
    assert len(hist[hist.key == "loss"]) == 100
    special = hist[hist.step == 3].set_index("key")["value"]
    assert math.isnan(special["nan"]) and special["inf"] == math.inf and special["ninf"] == -math.inf
    runs = store.runs(project="churn")
    assert runs.loc[0, "status"] == "finished" and runs.loc[0, "params.lr"] == 1e-3
