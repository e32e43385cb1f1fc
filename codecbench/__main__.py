from codecbench.cli import entry

entry()
