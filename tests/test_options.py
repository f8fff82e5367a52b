"""Option: the one check and message for a config key's named choices."""

import re

import pytest

from genlab.models.gan import GAN, GanLoss
from genlab.utils.errors import ConfigError
from genlab.utils.options import Option

pytestmark = pytest.mark.unit


class Fruit(Option):
    APPLE = "apple"
    PEAR = "pear"


def test_parse_returns_the_member_which_equals_its_string():
    fruit = Fruit.parse("data.fruit", "pear")
    assert fruit is Fruit.PEAR and fruit == "pear" and isinstance(fruit, str)
    assert Fruit.parse("data.fruit", Fruit.APPLE) is Fruit.APPLE
    assert {"pear": 1}[fruit] == 1 and f"{fruit}" == "pear"


@pytest.mark.parametrize("value", ["plum", "PEAR", 3, None, ["pear"]])
def test_an_unknown_value_is_one_line_naming_key_value_and_the_valid_ones(value):
    with pytest.raises(ConfigError) as err:
        Fruit.parse("data.fruit", value)
    assert str(err.value) == f"data.fruit={value!r} is unknown; valid: apple, pear"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_model_checks_its_option_through_parse():
    model = GAN([1, 8, 8], 17, hidden=8, loss="hinge")
    assert model.loss_name is GanLoss.HINGE and model.loss_name == "hinge"
    assert model.hparams.loss == "hinge" and type(model.hparams.loss) is str  # the checkpoint keeps the plain string
    with pytest.raises(
        ConfigError, match=re.escape("model.loss='bogus' is unknown; valid: non_saturating, hinge, wgan_gp")
    ):
        GAN([1, 8, 8], 17, hidden=8, loss="bogus")
