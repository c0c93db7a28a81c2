#!/usr/bin/env python3
"""Validate FHIR resources in JSON files with the `fhir.resources` models.

Usage: fhir_validate.py FILE...

Each file holds one resource; its `resourceType` picks the model. Exits 0 when
every file validates and 1 (printing why) when one does not, 2 on bad usage.

Which FHIR version: fhir.resources 6.x models R4 at its top level; 7.x and
later model R5 there and ship R4B (and STU3) as subpackages, with no R4. R4B
is R4 with minor additions, and its Questionnaire and QuestionnaireResponse
accept the same item structure, so R4B is the nearest check available. An R4
subpackage is used if a future release adds one.

fhir.resources checks structure, cardinality and primitive formats but not
required code bindings (it accepts any status code), so this script also
checks the required bindings these resources use: the statuses, item types,
enableWhen operators and enableBehavior of FHIR R4. It does not evaluate
FHIRPath invariants (que-*, qrs-*); intake's own publish checks cover que-*.

Error lines give the element's location and the reason, never the value:
the resources may one day hold real answers.
"""

import importlib
import json
import sys


def model_package():
    """The module holding R4 models, or the nearest version, and its name."""
    import fhir.resources

    version = fhir.resources.__version__
    try:
        return importlib.import_module("fhir.resources.R4"), "R4", version
    except ImportError:
        pass
    if int(version.split(".")[0]) < 7:
        return fhir.resources, "R4", version
    return importlib.import_module("fhir.resources.R4B"), "R4B", version


# FHIR R4 required bindings (value sets) used by the two resources.
PUBLICATION_STATUS = {"draft", "active", "retired", "unknown"}
RESPONSE_STATUS = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
ITEM_TYPE = {
    "group", "display", "boolean", "decimal", "integer", "date", "dateTime",
    "time", "string", "text", "url", "choice", "open-choice", "attachment",
    "reference", "quantity",
}
OPERATOR = {"exists", "=", "!=", ">", "<", ">=", "<="}
BEHAVIOR = {"all", "any"}


def binding_errors(resource):
    """Codes outside their required value set, as (location, message)."""
    errors = []

    def expect(location, value, allowed):
        if value is not None and value not in allowed:
            errors.append(f"{location}: code not in the required value set")

    kind = resource.get("resourceType")
    if kind == "Questionnaire":
        expect("status", resource.get("status"), PUBLICATION_STATUS)
    elif kind == "QuestionnaireResponse":
        expect("status", resource.get("status"), RESPONSE_STATUS)

    def items(entries, location):
        for index, item in enumerate(entries or []):
            here = f"{location}.{index}"
            if kind == "Questionnaire":
                expect(f"{here}.type", item.get("type"), ITEM_TYPE)
                expect(f"{here}.enableBehavior", item.get("enableBehavior"), BEHAVIOR)
                for number, condition in enumerate(item.get("enableWhen") or []):
                    expect(f"{here}.enableWhen.{number}.operator",
                           condition.get("operator"), OPERATOR)
            for number, answer in enumerate(item.get("answer") or []):
                items(answer.get("item"), f"{here}.answer.{number}.item")
            items(item.get("item"), f"{here}.item")

    items(resource.get("item"), "item")
    return errors


def validate(package, resource):
    model = package.get_fhir_model_class(resource["resourceType"])
    if hasattr(model, "model_validate"):
        model.model_validate(resource)
    else:
        model.parse_obj(resource)
    errors = binding_errors(resource)
    if errors:
        raise ValueError("; ".join(errors))


def describe(error):
    """The error without the offending input."""
    if isinstance(error, ValueError) and not hasattr(error, "errors"):
        return str(error)  # binding_errors: locations only
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return type(error).__name__
    try:
        details = errors(include_input=False, include_url=False)
    except TypeError:
        details = errors()
    return "; ".join(
        ".".join(str(part) for part in detail.get("loc", ())) + ": " + detail.get("msg", "")
        for detail in details
    )


def main(paths):
    if not paths:
        print("usage: fhir_validate.py FILE...", file=sys.stderr)
        return 2
    package, fhir_version, library_version = model_package()
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as file:
            resource = json.load(file)
        kind = resource.get("resourceType", "?")
        try:
            validate(package, resource)
        except Exception as error:  # pydantic's error types differ by version
            failed = True
            print(f"FAIL {path}: {kind} ({fhir_version}): {describe(error)}")
        else:
            print(
                f"ok {path}: valid {kind} "
                f"({fhir_version} models, fhir.resources {library_version})"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
