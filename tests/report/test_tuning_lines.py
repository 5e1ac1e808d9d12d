"""The console's line per tuned row: every grid point's dev accuracy and the choice."""

from __future__ import annotations

from saliency_kd.report import tuning_lines

GRID = [{"group": "l6", "row": "rationale:attention", "n_train": 50, "lr": 2e-4, "alpha": 0.75,
         "tried": [{"lr": 1e-4, "alpha": 0.5, "dev_accuracy": 0.25},
                   {"lr": 2e-4, "alpha": 0.75, "dev_accuracy": 0.983}]},
        {"row": "standard", "n_train": 50, "lr": 1e-4, "alpha": 0.5,
         "tried": [{"lr": 1e-4, "alpha": 0.5, "dev_accuracy": 0.3}]}]


def test_a_grid_prints_each_point_and_the_choice_and_alpha_only_where_it_is_tried():
    lines = tuning_lines(GRID)
    assert lines == ["dev grid, l6 rationale:attention at n=50: lr 0.0001 alpha 0.5: 0.250; "
                     "lr 0.0002 alpha 0.75: 0.983 -> lr 0.0002 alpha 0.75"]
    # a dev-only run prints every row, a single point too (it is all the run shows)
    assert tuning_lines(GRID, every=True)[1] == "dev grid, standard at n=50: lr 0.0001: " \
                                                 "0.300 -> lr 0.0001"
