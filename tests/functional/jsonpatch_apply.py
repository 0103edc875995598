"""A minimal RFC 6902 applier (add, remove, replace) for checking the patches devices receive,
independent of Sluice's own implementation."""


def _unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def _walk(doc, path):
    tokens = [_unescape(t) for t in path.split("/")[1:]]
    parent = doc
    for t in tokens[:-1]:
        parent = parent[int(t)] if isinstance(parent, list) else parent[t]
    return parent, tokens[-1]


def apply(doc, ops):
    for op in ops:
        parent, last = _walk(doc, op["path"])
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, op["value"])
            elif op["op"] == "remove":
                del parent[index]
            else:
                parent[index] = op["value"]
        elif op["op"] == "remove":
            del parent[last]
        else:
            parent[last] = op["value"]
    return doc
