"""Small notebooks for tests: cell ids chosen by the test, written as a real .ipynb file."""
import nbformat


def write_notebook(path, cells: dict[str, str]):
    """Write a notebook whose code cells are ``{id: source}``, in order; return the path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells.items()]
    nbformat.write(nb, path)
    return path
