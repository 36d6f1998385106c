"""``ramkit --help`` and ``ramkit train --help`` stay fast: building the CLI (options derived from TrainConfig
included) and ``import ramkit`` import no torch."""

import subprocess
import sys


def test_cli_and_package_import_no_torch():
    code = (
        "import sys, ramkit, ramkit.cli\n"
        "from ramkit.train import TrainConfig\n"
        "assert TrainConfig.__name__ == 'TrainConfig'\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lazy_public_names_resolve():
    import ramkit

    assert ramkit.Predictor.__name__ == "Predictor"
