"""The inspector's side: records become exchanges (collector), are kept (store) and looked
at through a view (filter, order, focus, selections)."""
