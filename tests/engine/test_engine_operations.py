"""Every operation has one body, and the workflow of that name runs it: a holder (DeviceMigration)
can run any operation the entity can, through the same code."""
from __future__ import annotations

from esimflow.contract import INPUT_OF_OPERATION
from esimflow.workflows.base import OperationWorkflow
from esimflow.workflows.catalog import WORKFLOWS
from esimflow.workflows.operations import BODIES, subject

from tests.histories.record import workflow_type_name


def test_every_operation_has_a_body_and_a_thin_workflow_of_its_name():
    operation_workflows = {workflow_type_name(cls): cls for cls in WORKFLOWS if issubclass(cls, OperationWorkflow)}
    assert set(BODIES) == set(INPUT_OF_OPERATION) == set(operation_workflows)
    for name, cls in operation_workflows.items():
        assert cls.operation == name
        own = [key for key, value in vars(cls).items() if callable(value) and not key.startswith("__")]
        assert own == ["run"], f"{cls.__name__} holds more than its run: {own}"


def test_a_result_names_the_card_or_the_device_asked_for():
    assert subject(INPUT_OF_OPERATION["ListProfiles"](eid="8904")) == "8904"
    assert subject(INPUT_OF_OPERATION["GetEid"](device="pcsc:Reader 0")) == "pcsc:Reader 0"
    assert subject(INPUT_OF_OPERATION["ListDevices"]()) == ""
