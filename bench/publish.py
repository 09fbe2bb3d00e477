"""What bench/report.py and bench/apiserver_report.py share: the table into its
section of BENCHMARKS.md, and the table and the targets on stdout."""


def publish(doc, marker, table, verdicts):
    """Replace the text between <!-- MARKER:begin --> and <!-- MARKER:end --> in doc
    (when doc is given and has both), then print the table and each verdict."""
    if doc:
        with open(doc) as f:
            text = f.read()
        begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        if begin in text and end in text:
            text = text[:text.index(begin) + len(begin)] + "\n" + table + "\n" + text[text.index(end):]
            with open(doc, "w") as f:
                f.write(text)
    print(table)
    print()
    for what, met, detail in verdicts:
        print(f"{'MET   ' if met else 'MISSED'} {what}: {detail}")
