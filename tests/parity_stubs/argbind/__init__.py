"""Stand-in for argbind (dac's command-line binding): ``bind`` returns the function unchanged."""


def bind(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn
