// condseg: the command-line tool. One subcommand per job; the work itself lives in the library modules.
print("condseg")
