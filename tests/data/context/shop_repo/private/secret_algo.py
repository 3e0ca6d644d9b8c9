def confidential_pricing_formula():
    return 42
