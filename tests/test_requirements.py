"""The requirements admit no version of a package with a known hole that a hostile file
reaches through our scripts: denoise.py loads the user's .keras and .onnx files."""

import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import REPOSITORY

# The first version of each package that holds against every hostile model file we know:
# Keras' safe mode (CVE-2025-1550, CVE-2025-8747, CVE-2025-9906, CVE-2025-12060, fixed by
# 3.14 with CVE-2026-1462); onnxruntime's external data outside the model's folder (1.24).
SAFE_FLOORS = {"keras": Version("3.14"), "onnxruntime": Version("1.24")}


def requirements(path):
    """The requirements of a requirements file, comments and blank lines left out."""
    lines = (re.sub(r"#.*", "", line).strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@pytest.mark.parametrize("path", sorted(REPOSITORY.glob("requirements*.txt")), ids=lambda path: path.name)
def test_every_requirement_of_a_model_loader_refuses_its_unsafe_versions(path):
    for requirement in requirements(path):
        floor = SAFE_FLOORS.get(requirement.name)
        if floor is None:
            continue
        unsafe = Version(f"{floor.major}.{floor.minor - 1}.99")
        assert not requirement.specifier.contains(unsafe), f"{path.name}: {requirement}"
        assert requirement.specifier.contains(floor), f"{path.name}: {requirement}"
