"""A package of model files: tests `package.module` and `package.module:attr` targets."""
