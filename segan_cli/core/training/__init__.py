"""Training: the GAN as a LightningModule (``module``), the run that fits it
(``run``), its callbacks (``callbacks``), graceful stops on signals (``stopping``),
warm starts from another checkpoint (``warm_start``), guarded checkpoint writes
(``checkpoint_io``) and the regression loss beside L1 (``losses``)."""
