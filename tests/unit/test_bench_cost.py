"""Cost per million deliveries (`make bench`): list prices applied to the measured requests."""

from benchmarks import cost, items


def test_a_transaction_costs_two_write_units_per_item_it_writes_or_checks():
    one_parent = {"TransactItems": [{"Put": {}}, {"ConditionCheck": {}}]}
    two_parents = {"TransactItems": [{"Put": {}}, {"ConditionCheck": {}}, {"ConditionCheck": {}}]}
    assert cost.write_units("dynamodb.TransactWriteItems", one_parent) == 4
    assert cost.write_units("dynamodb.TransactWriteItems", two_parents) == 6
    assert cost.write_units("dynamodb.PutItem", {}) == 1
    assert cost.write_units("sqs.SendMessage", {}) == 0


def test_cost_per_million_is_lambda_time_write_units_and_queue_requests():
    # a user.created at 25 ms: idempotency put, entity put, idempotency update, one welcome message
    price = cost.per_million({"sqs.SendMessage": 1}, 3, 25.0, 1024)
    assert round(price.lambda_usd, 4) == round(0.20 + 0.025 * 0.0000133334 * 1_000_000, 4)
    assert (price.dynamodb_usd, round(price.sqs_usd, 2)) == (3 * 0.625, 1.20)
    assert (
        round(price.total(cost.HTTP_API_PER_MILLION) - price.total(cost.FUNCTION_URL_PER_MILLION), 2) == 1.0
    )


def test_a_put_costs_one_write_unit_per_started_kb_of_its_item():
    small = {"id": {"S": "user_1"}, "version": {"N": "5"}}
    assert cost.item_bytes(small) == len("id") + 6 + len("version") + 2
    big = {**small, "clerk": {"B": b"x" * 1_100}}
    assert cost.write_units("dynamodb.PutItem", {"Item": small}) == 1
    assert cost.write_units("dynamodb.PutItem", {"Item": big}) == 2
    assert cost.item_units(1_024) == 1 and cost.item_units(1_025) == 2 and cost.item_units(0) == 1
    nested = {"m": {"M": {"a": {"L": [{"BOOL": True}, {"NULL": True}]}, "s": {"SS": ["é"]}}}}
    assert cost.item_bytes(nested) == 1 + 3 + (1 + 1 + 3 + 2 * 2) + (1 + 1 + 2)
    transaction = {"TransactItems": [{"Put": {"Item": big}}, {"ConditionCheck": {}}]}
    assert cost.write_units("dynamodb.TransactWriteItems", transaction) == 2 * 2 + 2
    assert cost.write_units("dynamodb.UpdateItem", {"Key": small}) == 1


def test_record_sizes_per_sample_without_and_with_the_complete_object():
    sizes = items.sample_sizes()
    by_type = {s.event_type: s for s in sizes}
    assert "user.updated" in by_type and "user.deleted" not in by_type and "email.created" not in by_type
    user = by_type["user.updated"]
    assert 300 < user.without < user.with_object <= 1_024 and (user.units_without, user.units_with) == (1, 1)
    assert all(s.without < s.with_object for s in sizes)
    assert sum(s.units_with == 1 for s in sizes) >= len(sizes) * 3 // 4  # most types stay at one unit


def test_record_sizes_of_clerks_published_examples():
    sizes = {s.event_type: s for s in items.example_sizes()}
    assert {"user.created", "organization.created", "subscriptionItem.active"} <= set(sizes)
    assert "user.deleted" not in sizes and "email.created" not in sizes
    assert all(s.without < s.with_object for s in sizes.values())
    assert sum(s.units_with == 1 for s in sizes.values()) >= len(sizes) * 3 // 4


def test_the_record_size_section_lists_every_type_with_its_units():
    sizes = [
        items.RecordSize("user.updated", 543, 746),
        items.RecordSize("paymentAttempt.created", 666, 1_342),
    ]
    lines = items.size_lines(sizes)
    assert "| user.updated | 543 B | 1 | 746 B | 1 |" in lines
    assert "| paymentAttempt.created | 666 B | 1 | 1,342 B | 2 |" in lines
    assert "With the complete object, 1 of 2 types fit in one write unit." in lines


def test_a_sample_that_writes_no_live_record_has_no_size():
    envelope = {"type": "user.deleted", "object": "event", "timestamp": 1, "instance_id": "ins_1"}
    envelope["data"] = {"id": "user_1", "object": "user", "deleted": True}
    assert items.record_size(envelope) is None
