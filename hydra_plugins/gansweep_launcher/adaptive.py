"""`hydra/sweeper=adaptive`: the plugin class Hydra finds by its module (its plugin scan keys classes by where they
are defined); the sweep is gansweep.search.sweeper's."""

from gansweep.search import sweeper


class AdaptiveSweeper(sweeper.AdaptiveSweeper):
    pass
