from codecbench.cli import main

raise SystemExit(main())
