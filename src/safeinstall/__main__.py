from safeinstall.cli import console_main

console_main()
