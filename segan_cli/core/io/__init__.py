"""Files in and out, safely: audio reading and writing, header checks, atomic
no-clobber publishing and the hidden temporaries it writes through, and charts
published as a user's output files (``figures``)."""
