def layout():
    return None
