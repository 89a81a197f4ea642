"""Cost per million deliveries (`make bench`): list prices applied to the measured requests."""

from benchmarks import cost


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
