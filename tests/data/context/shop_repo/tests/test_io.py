from shop.io import load_orders


def test_load_orders(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("order_id,customer_id,amount\n1,c1,2.5\n")
    assert len(load_orders(p)) == 1
