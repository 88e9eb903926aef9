"""JUnit XML for CI systems (GitHub Actions, GitLab, Jenkins read it): one test suite per command run, one
test case per check (``--junit FILE`` of ``tinygen test`` and ``tinygen validate``).

The format is the common subset every reader accepts: ``<testsuites>`` holding one ``<testsuite>`` with
``tests``/``failures``/``errors``/``skipped`` counts, each ``<testcase>`` with an optional ``<failure>``
(a check that ran and did not hold) or ``<skipped>``, and the figures in ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Case:
    """One check: ``failure`` is None when it held; ``skipped`` names why it did not run."""

    name: str
    failure: str | None = None
    skipped: str | None = None
    output: str = ""
    seconds: float = 0.0


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, name: str, failure: str | None = None, *, output: str = "", skipped: str | None = None,
            seconds: float = 0.0) -> Case:
        case = Case(name, failure, skipped, output, seconds)
        self.cases.append(case)
        return case

    def to_xml(self) -> str:
        failures = sum(1 for c in self.cases if c.failure is not None)
        skipped = sum(1 for c in self.cases if c.skipped is not None and c.failure is None)
        attrs = {"name": self.name, "tests": str(len(self.cases)), "failures": str(failures), "errors": "0",
                 "skipped": str(skipped), "time": f"{self.seconds:.3f}"}
        root = ET.Element("testsuites", {k: attrs[k] for k in ("name", "tests", "failures", "errors", "time")})
        suite = ET.SubElement(root, "testsuite", attrs)
        for case in self.cases:
            element = ET.SubElement(suite, "testcase", {"classname": self.name, "name": case.name,
                                                        "time": f"{case.seconds:.3f}"})
            if case.failure is not None:
                failure = ET.SubElement(element, "failure", {"message": case.failure.splitlines()[0][:500]})
                failure.text = case.failure
            elif case.skipped is not None:
                ET.SubElement(element, "skipped", {"message": case.skipped})
            if case.output:
                ET.SubElement(element, "system-out").text = case.output
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the XML to ``path``, atomically (it is either as it was or complete)."""
        from tinygen.filewrite import write_file_atomically

        return write_file_atomically(path, self.to_xml().encode("utf-8"), force=True)
