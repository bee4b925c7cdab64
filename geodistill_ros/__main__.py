from geodistill_ros.cli import main

raise SystemExit(main())
