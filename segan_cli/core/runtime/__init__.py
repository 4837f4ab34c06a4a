"""How a run behaves as a process: stop signals, pool workers that die with their parent,
usable CPUs, and progress reported without printing."""
